"""schoolpass: a school district's health testing program, without telling the wrong family."""

__version__ = "0.1.0"
