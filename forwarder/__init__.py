"""What happens to a case after registration: calendar, workflow, deadlines, outbox."""
