"""The web channel: the citizen's form, the receipt page. Server-rendered, Chinese UI."""
