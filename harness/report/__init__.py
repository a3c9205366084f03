"""Reports: JSON is the source of truth (report/json_.py); JUnit XML, the terminal summary
and the HTML matrix are renderings of it."""
