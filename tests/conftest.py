from tests.aws_emulator import aws, aws_emulator_session

__all__ = ["aws", "aws_emulator_session"]
