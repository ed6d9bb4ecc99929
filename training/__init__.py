"""Tools a model developer runs: training the frame classifier, evaluating the pipeline, metrics."""
