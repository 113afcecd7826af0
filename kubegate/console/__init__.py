"""The web console: sign-in, sessions and server-rendered pages under ``/console``."""
