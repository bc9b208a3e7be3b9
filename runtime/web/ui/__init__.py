"""Server-rendered pages (Jinja2) with a little JavaScript; no Node build step."""
