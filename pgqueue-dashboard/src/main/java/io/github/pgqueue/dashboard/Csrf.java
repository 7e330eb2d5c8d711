package io.github.pgqueue.dashboard;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * CSRF tokens: a signed double-submit cookie. The token is 16 random bytes and their HMAC-SHA256
 * under a key made per dashboard instance, or derived from the configured secret so that several
 * instances accept each other's tokens; it is set as an HttpOnly, SameSite=Strict cookie and
 * put into every form (and into a meta tag for scripts, which send it as {@code X-CSRF-Token}). An
 * action is accepted only when the submitted token equals the cookie (compared in constant time)
 * and the cookie's signature is ours, so a token planted by a sibling subdomain is refused too.
 */
final class Csrf {

  static final String COOKIE = "pgqueue_csrf";
  static final String FIELD = "_csrf";
  static final String HEADER = "X-CSRF-Token";

  private final SecureRandom random = new SecureRandom();
  private final byte[] key = new byte[32];

  /** With a random key of this instance's own. */
  Csrf() {
    random.nextBytes(key);
  }

  /** With the given key (see {@link #keyOf}). */
  Csrf(byte[] key) {
    System.arraycopy(key, 0, this.key, 0, this.key.length);
  }

  /** The 32-byte key for a configured secret: its SHA-256. */
  static byte[] keyOf(String secret) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("SHA-256 is unavailable", e);
    }
  }

  String newToken() {
    byte[] nonce = new byte[16];
    random.nextBytes(nonce);
    byte[] token = Arrays.copyOf(nonce, 32);
    System.arraycopy(mac(nonce), 0, token, 16, 16);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(token);
  }

  /** Whether {@code token} is one this instance signed. */
  boolean valid(String token) {
    if (token == null || token.length() > 64) {
      return false;
    }
    byte[] raw;
    try {
      raw = Base64.getUrlDecoder().decode(token);
    } catch (IllegalArgumentException e) {
      return false;
    }
    if (raw.length != 32) {
      return false;
    }
    byte[] expected = Arrays.copyOf(mac(Arrays.copyOf(raw, 16)), 16);
    return MessageDigest.isEqual(expected, Arrays.copyOfRange(raw, 16, 32));
  }

  /** Whether a request's submitted token matches its cookie and the cookie is ours. */
  boolean accepts(String cookie, String submitted) {
    if (cookie == null || submitted == null) {
      return false;
    }
    boolean same = MessageDigest.isEqual(
        cookie.getBytes(StandardCharsets.US_ASCII), submitted.getBytes(StandardCharsets.US_ASCII));
    return same & valid(cookie);
  }

  private byte[] mac(byte[] nonce) {
    try {
      Mac m = Mac.getInstance("HmacSHA256");
      m.init(new SecretKeySpec(key, "HmacSHA256"));
      return m.doFinal(nonce);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is unavailable", e);
    }
  }
}
