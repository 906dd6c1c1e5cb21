"""`demixui bench`: our latency and speed beside the peers', measured side by side in one run.

`suite.run_bench` runs the parts: `ours` (our model through the app's runtime), `peers` (published networks
built from their packages with random weights), `engine` (the null-backend engine per block size) and
`quality` (floor, model and ceiling of `demixui evaluate`); `table` and `document` render the results.
"""
