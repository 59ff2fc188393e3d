package pgsvc.pooler.tls;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Certificates and private keys in the PEM files PgBouncer and PostgreSQL take. Keys may be PKCS#8
 * ({@code BEGIN PRIVATE KEY}), PKCS#1 RSA ({@code BEGIN RSA PRIVATE KEY}, what {@code openssl genrsa -traditional}
 * and older OpenSSL write) or SEC1 EC ({@code BEGIN EC PRIVATE KEY}, what {@code openssl ecparam -genkey} writes); the
 * JDK reads only the first, so the other two are wrapped into PKCS#8 here rather than pulling in BouncyCastle.
 * Encrypted keys are refused, as PgBouncer has no way to ask for a passphrase either.
 */
final class PemFiles {
    /** rsaEncryption, 1.2.840.113549.1.1.1. */
    private static final byte[] RSA_OID = {0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01,
        0x01, 0x01};
    /** id-ecPublicKey, 1.2.840.10045.2.1. */
    private static final byte[] EC_OID = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01};
    private static final byte[] DER_NULL = {0x05, 0x00};
    private static final byte[] VERSION_0 = {0x02, 0x01, 0x00};

    private PemFiles() {
    }

    /** Every certificate in the file, in order (the first is the end-entity certificate of a chain). */
    static List<X509Certificate> certificates(Path file) throws IOException, CertificateException {
        byte[] bytes = Files.readAllBytes(file);
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        List<X509Certificate> out = new ArrayList<>();
        for (var c : factory.generateCertificates(new ByteArrayInputStream(bytes))) {
            out.add((X509Certificate) c);
        }
        if (out.isEmpty()) {
            throw new CertificateException("no certificate found");
        }
        return out;
    }

    /**
     * The first private key in the file. {@code hint} is the key algorithm to try first (the certificate's public
     * key algorithm), or null.
     */
    static PrivateKey privateKey(Path file, String hint) throws IOException, GeneralSecurityException {
        String text = Files.readString(file, StandardCharsets.US_ASCII);
        if (text.contains("ENCRYPTED")) {
            throw new GeneralSecurityException("encrypted private keys are not supported");
        }
        byte[] pkcs8;
        Set<String> algorithms = new LinkedHashSet<>();
        if (hint != null) {
            algorithms.add(hint);
        }
        byte[] der;
        if ((der = block(text, "PRIVATE KEY")) != null) {
            pkcs8 = der;
            algorithms.addAll(List.of("RSA", "EC", "EdDSA", "RSASSA-PSS", "XDH", "DSA"));
        } else if ((der = block(text, "RSA PRIVATE KEY")) != null) {
            pkcs8 = sequence(VERSION_0, sequence(RSA_OID, DER_NULL), tlv(0x04, der));
            algorithms.clear();
            algorithms.add("RSA");
        } else if ((der = block(text, "EC PRIVATE KEY")) != null) {
            pkcs8 = sequence(VERSION_0, sequence(EC_OID, curveOid(der)), tlv(0x04, der));
            algorithms.clear();
            algorithms.add("EC");
        } else {
            throw new GeneralSecurityException("no PEM private key found");
        }
        GeneralSecurityException last = null;
        for (String algorithm : algorithms) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
            } catch (GeneralSecurityException e) {
                last = e;
            }
        }
        throw new GeneralSecurityException("unsupported private key: " + (last == null ? "" : last.getMessage()));
    }

    /** The base64 body of the first {@code -----BEGIN <label>-----} block, decoded; null if there is none. */
    private static byte[] block(String text, String label) throws GeneralSecurityException {
        String begin = "-----BEGIN " + label + "-----";
        String end = "-----END " + label + "-----";
        int from = text.indexOf(begin);
        if (from < 0) {
            return null;
        }
        int to = text.indexOf(end, from);
        if (to < 0) {
            throw new GeneralSecurityException("unterminated PEM block " + label);
        }
        String body = text.substring(from + begin.length(), to).replaceAll("\\s", "");
        try {
            return Base64.getDecoder().decode(body);
        } catch (IllegalArgumentException e) {
            throw new GeneralSecurityException("bad base64 in PEM block " + label);
        }
    }

    /** The named curve OID in a SEC1 ECPrivateKey's {@code [0] parameters}, which PKCS#8 wants in the algorithm. */
    private static byte[] curveOid(byte[] sec1) throws GeneralSecurityException {
        int[] pos = {0};
        int seqEnd = enter(sec1, pos, 0x30);
        while (pos[0] < seqEnd) {
            int tag = sec1[pos[0]] & 0xff;
            int contentEnd = enter(sec1, pos, tag);
            if (tag == 0xa0) {
                // [0] holds exactly one TLV, the curve's OBJECT IDENTIFIER.
                if ((sec1[pos[0]] & 0xff) != 0x06) {
                    break;
                }
                byte[] oid = new byte[contentEnd - pos[0]];
                System.arraycopy(sec1, pos[0], oid, 0, oid.length);
                return oid;
            }
            pos[0] = contentEnd;
        }
        throw new GeneralSecurityException("EC private key without a named curve");
    }

    /** Reads a tag and length at {@code pos}; leaves {@code pos} at the content and returns the content's end. */
    private static int enter(byte[] der, int[] pos, int tag) throws GeneralSecurityException {
        int p = pos[0];
        if (p + 2 > der.length || (der[p] & 0xff) != tag) {
            throw new GeneralSecurityException("malformed DER");
        }
        int len = der[p + 1] & 0xff;
        p += 2;
        if (len >= 0x80) {
            int n = len & 0x7f;
            if (n == 0 || n > 3 || p + n > der.length) {
                throw new GeneralSecurityException("malformed DER length");
            }
            len = 0;
            for (int i = 0; i < n; i++) {
                len = (len << 8) | (der[p++] & 0xff);
            }
        }
        if (p + len > der.length) {
            throw new GeneralSecurityException("truncated DER");
        }
        pos[0] = p;
        return p + len;
    }

    private static byte[] sequence(byte[]... parts) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            body.writeBytes(p);
        }
        return tlv(0x30, body.toByteArray());
    }

    private static byte[] tlv(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(content.length + 6);
        out.write(tag);
        int len = content.length;
        if (len < 0x80) {
            out.write(len);
        } else if (len < 0x100) {
            out.write(0x81);
            out.write(len);
        } else if (len < 0x10000) {
            out.write(0x82);
            out.write(len >> 8);
            out.write(len);
        } else {
            out.write(0x83);
            out.write(len >> 16);
            out.write(len >> 8);
            out.write(len);
        }
        out.writeBytes(content);
        return out.toByteArray();
    }
}
