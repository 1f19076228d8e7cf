"""The TUI's screens: the main screen and the help modal."""
