"""Operations: monitoring as code, the black-box recorder, and remote operations over mTLS."""
