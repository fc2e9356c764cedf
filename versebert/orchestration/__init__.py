"""What turns the pieces into a run and a release: the pipeline, the run directory's layout, the model
card and publishing to the Hub."""
