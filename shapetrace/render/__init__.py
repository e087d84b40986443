"""Renderers: turn a Trace into text, rich renderables, graphs and HTML."""
