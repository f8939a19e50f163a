"""Delete CAMS (Chat App Message Service) instances from Function Compute events.

The data flows: event bytes -> recognise the source (`sources`) -> extract requests
(`extract`) -> validate and apply policy (`validation`) -> call CAMS (`cams`, `retry`,
`deleter`) -> normalize (`results`) -> render for the source (`http`, `entrypoints`).
"""
