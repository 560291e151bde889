"""Audiences: a typed rule language, a bitmap engine, saved packages and frozen snapshots."""
