"""The TUI's widgets: inputs, ranked table, trade-off chart, detail pane, measure strip."""
