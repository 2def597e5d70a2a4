"""Jobs: their stored history, the service that submits and changes them, and execution."""
