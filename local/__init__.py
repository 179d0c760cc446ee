"""Development-only tools: never deployed (see .funcignore) and never imported by the app."""
