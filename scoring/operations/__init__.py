"""What runs a request without judging it: job admission, upload directories, metrics and the audit trail."""
