"""Inputs: files, directories, stdin and PDFs become documents; log lines become records."""
