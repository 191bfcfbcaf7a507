"""The dashboard application (Dash on Flask)."""
