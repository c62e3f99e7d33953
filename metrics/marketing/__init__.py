"""Marketing metrics: the KPI catalog and its SQL compiler, lifecycle, channels, attribution and
loop health. Every number on the Loop health, Lifecycle and Channels pages is computed here."""
