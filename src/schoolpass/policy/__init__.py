"""The program policy (versioned rules as data) and each person's status under it."""
