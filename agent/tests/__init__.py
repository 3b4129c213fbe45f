"""The node agent's tests: python3 -m unittest discover -s agent/tests -t . (jest runs them: test/agent.test.ts)."""
