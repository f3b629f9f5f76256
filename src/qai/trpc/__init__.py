"""The original's wire protocol: its tRPC procedures at ``/api/trpc`` with superjson."""
