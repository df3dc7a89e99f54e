"""The Streamlit edge: session context and shared widgets. Only app.py and pages/ import this package."""
