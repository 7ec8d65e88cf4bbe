"""Steps shared by the feature files."""
