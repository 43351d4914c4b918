"""classbot: a class-group chat bot for daily student affairs (学工)."""
