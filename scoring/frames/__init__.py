"""The frame classifier's insides: the checkpoint layouts `efficientnet_detector` loads."""
