"""LLM plumbing shared by the fan classifier, the chatters' QA and the vault tagger: the
OpenAI-compatible client with its budget and retries, prices, reading an answer into a row's
fields, and the token and cost tally of a run. Nothing here knows Dagster."""
