"""Signal processing shared by the model, the engine and the tests: no threads, no Qt, no audio devices."""
