"""The console: delegated administration in a browser and over a JSON API (`lifecycle web`).

- app.py      the Flask application: sessions, CSRF, languages, errors;
- access.py   who is logged in and which companies they may see and decide for;
- api.py      the JSON API under /api/v1 (the pages use it too);
- pages.py    the server-rendered pages;
- i18n.py     the message catalogues (zh-CN, en) and dates in the company's time zone;
- serve.py    the process: settings, secrets, the WSGI server.
"""
