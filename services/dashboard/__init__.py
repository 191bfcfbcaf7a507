"""The Dash dashboard: what the agents believe against the truth, live, with controls."""
