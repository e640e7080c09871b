"""The analyses: run -> Result, write, summary."""
