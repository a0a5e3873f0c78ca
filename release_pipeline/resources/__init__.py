"""One module per external system the pipeline talks to."""
