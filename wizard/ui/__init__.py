"""What the person sees: prompts, the five steps, the review, the one place that prints."""
