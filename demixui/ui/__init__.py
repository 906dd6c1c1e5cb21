"""The desktop app (PySide6 + pyqtgraph): Qt widgets only, talking to `demixui.engine.Engine` through its
control methods and reading its snapshots on a timer. Start it with `demixui` or `demixui.ui.app.launch`."""
