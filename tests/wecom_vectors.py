"""The published WeCom callback-crypto vector, shared by the crypto and callback tests."""

from __future__ import annotations

# The vector published with wechatpy's test suite (WeCom echostr verification).
TOKEN = "123456"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
CORP_ID = "wx49f0ab532d5d035a"
MSG_SIGNATURE = "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
TIMESTAMP = "1411443780"
NONCE = "437374425"
ECHOSTR = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="

# The URL-verification request WeCom would send with those values.
VECTOR_QUERY = {"msg_signature": MSG_SIGNATURE, "timestamp": TIMESTAMP, "nonce": NONCE, "echostr": ECHOSTR}
VECTOR_PLAINTEXT = "5927782489442352469"
