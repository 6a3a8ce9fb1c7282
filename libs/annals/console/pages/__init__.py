"""The console's pages, one router a page family."""
