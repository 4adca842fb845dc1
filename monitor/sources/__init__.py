"""Sources: where CloudTrail bytes come from. One module per kind, one interface (`base.Source`)."""
