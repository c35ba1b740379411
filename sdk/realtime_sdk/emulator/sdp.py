"""Offer SDP validation: an offer the emulator answers must be one a peer could connect with."""

from __future__ import annotations

import re

from aiortc.sdp import SessionDescription

from .webrtc import SdpError, check_offer

#: Digest length in bytes of each ``a=fingerprint`` hash function (RFC 8122 §5; IANA registry).
FINGERPRINT_BYTES = {"sha-1": 20, "sha-224": 28, "sha-256": 32, "sha-384": 48, "sha-512": 64}
_HEX_PAIRS = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*")
_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")
_MEDIA = ("audio", "application")
_KINDS = ("audio", "video", "application")
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


def validate_offer(sdp: str) -> None:
    """Raise :class:`SdpError` (a sentence saying what is wrong) unless the offer is usable.

    Beyond :func:`~realtime_sdk.emulator.webrtc.check_offer`'s structure: parsed by aiortc's
    SDP parser; an audio or data channel media section; a unique ``a=mid`` per section and
    BUNDLE groups naming only those; a direction on audio; in each audio or data channel
    section, ICE credentials of legal length and characters (RFC 8839 §5.4) and at least one
    DTLS fingerprint, every one with a known hash function and that function's number of hex
    bytes (RFC 8122 §5).
    """
    check_offer(sdp)
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises whatever its string handling meets
        raise SdpError(f"Invalid SDP offer: it could not be parsed ({exc}).") from exc
    media = [m for m in parsed.media if m.kind in _MEDIA]
    if not media:
        raise SdpError("Invalid SDP offer: expected an audio or a data channel media section.")
    mids: list[str] = []
    for m in parsed.media:
        if m.kind not in _KINDS:
            raise SdpError(
                f"Invalid SDP offer: unknown media type '{m.kind[:40]}' (expected one of "
                + ", ".join(f"'{k}'" for k in _KINDS)
                + ")."
            )
        if not m.rtp.muxId:
            raise SdpError(f"Invalid SDP offer: the {m.kind} section has no 'a=mid'.")
        if m.rtp.muxId in mids:
            raise SdpError(f"Invalid SDP offer: 'a=mid:{m.rtp.muxId}' is used twice.")
        mids.append(m.rtp.muxId)
    for group in parsed.group:
        for mid in group.items:
            if mid not in mids:
                raise SdpError(
                    f"Invalid SDP offer: 'a=group:{group.semantic}' names mid '{mid}', "
                    "which no media section has."
                )
    for m in media:
        where = f"the {m.kind} section"
        if m.kind == "audio" and m.direction not in _DIRECTIONS:
            raise SdpError(
                f"Invalid SDP offer: {where} has no direction (one of "
                + ", ".join(f"'a={d}'" for d in _DIRECTIONS)
                + ")."
            )
        ufrag = m.ice.usernameFragment if m.ice is not None else None
        pwd = m.ice.password if m.ice is not None else None
        if not ufrag or not pwd:
            raise SdpError(
                f"Invalid SDP offer: {where} has no ICE credentials ('a=ice-ufrag', 'a=ice-pwd')."
            )
        if not 4 <= len(ufrag) <= 256 or not _ICE_CHARS.fullmatch(ufrag):
            raise SdpError(
                f"Invalid SDP offer: 'a=ice-ufrag' in {where} must be 4 to 256 letters, "
                "digits, '+' or '/'."
            )
        if not 22 <= len(pwd) <= 256 or not _ICE_CHARS.fullmatch(pwd):
            raise SdpError(
                f"Invalid SDP offer: 'a=ice-pwd' in {where} must be 22 to 256 letters, "
                "digits, '+' or '/'."
            )
        if m.dtls is None or not m.dtls.fingerprints:
            raise SdpError(f"Invalid SDP offer: {where} has no DTLS fingerprint ('a=fingerprint').")
        for fingerprint in m.dtls.fingerprints:
            size = FINGERPRINT_BYTES.get(fingerprint.algorithm.lower())
            if size is None:
                raise SdpError(
                    f"Invalid SDP offer: unknown fingerprint hash function "
                    f"'{fingerprint.algorithm}' (expected one of {', '.join(FINGERPRINT_BYTES)})."
                )
            value = fingerprint.value
            if not _HEX_PAIRS.fullmatch(value) or len(value.split(":")) != size:
                raise SdpError(
                    f"Invalid SDP offer: the {fingerprint.algorithm} fingerprint must be "
                    f"{size} colon-separated hex bytes, not '{value[:200]}'."
                )
