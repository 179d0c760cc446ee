"""The helper package every function imports: pure logic in between, I/O at the edges."""
