"""The checks of a deployment: each returns typed rows (`wizard.result.CheckRow`, a Status enum).
`wizard check` lists them all; setup's preflight runs the ones that can stop a write."""
