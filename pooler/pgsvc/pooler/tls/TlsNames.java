package pgsvc.pooler.tls;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * PgBouncer's TLS protocol and cipher settings in the JDK's terms. Protocol lists follow libtls's
 * {@code tls_config_parse_protocols}. Cipher strings are OpenSSL's: the suite names of the common ECDHE, DHE and RSA
 * suites are mapped to the IANA names the JDK uses (and back, for SHOW CLIENTS); IANA names are taken as they are;
 * OpenSSL's group keywords ({@code HIGH}, {@code !aNULL}, {@code @STRENGTH}) cannot be evaluated without OpenSSL and
 * are ignored with a warning, leaving the suites named explicitly, or the JDK's defaults when none is.
 */
final class TlsNames {
    static final String TLS_1_0 = "TLSv1";
    static final String TLS_1_1 = "TLSv1.1";
    static final String TLS_1_2 = "TLSv1.2";
    static final String TLS_1_3 = "TLSv1.3";

    /** OpenSSL's name of a TLS 1.2 suite, and the IANA name the JDK knows it by. */
    private static final Map<String, String> OPENSSL_TO_IANA = new LinkedHashMap<>();
    private static final Map<String, String> IANA_TO_OPENSSL = new LinkedHashMap<>();

    static {
        for (String kx : List.of("ECDHE-ECDSA", "ECDHE-RSA", "DHE-RSA", "DHE-DSS", "")) {
            String iana = switch (kx) {
                case "ECDHE-ECDSA" -> "TLS_ECDHE_ECDSA_WITH_";
                case "ECDHE-RSA" -> "TLS_ECDHE_RSA_WITH_";
                case "DHE-RSA" -> "TLS_DHE_RSA_WITH_";
                case "DHE-DSS" -> "TLS_DHE_DSS_WITH_";
                default -> "TLS_RSA_WITH_";
            };
            String prefix = kx.isEmpty() ? "" : kx + "-";
            put(prefix + "AES256-GCM-SHA384", iana + "AES_256_GCM_SHA384");
            put(prefix + "AES128-GCM-SHA256", iana + "AES_128_GCM_SHA256");
            put(prefix + (kx.startsWith("ECDHE") ? "AES256-SHA384" : "AES256-SHA256"),
                    iana + (kx.startsWith("ECDHE") ? "AES_256_CBC_SHA384" : "AES_256_CBC_SHA256"));
            put(prefix + "AES128-SHA256", iana + "AES_128_CBC_SHA256");
            put(prefix + "AES256-SHA", iana + "AES_256_CBC_SHA");
            put(prefix + "AES128-SHA", iana + "AES_128_CBC_SHA");
            if (kx.equals("ECDHE-ECDSA") || kx.equals("ECDHE-RSA") || kx.equals("DHE-RSA")) {
                put(prefix + "CHACHA20-POLY1305", iana + "CHACHA20_POLY1305_SHA256");
            }
        }
    }

    private static void put(String openssl, String iana) {
        OPENSSL_TO_IANA.put(openssl, iana);
        IANA_TO_OPENSSL.put(iana, openssl);
    }

    private TlsNames() {
    }

    /**
     * A protocol list ({@code tlsv1.0}..{@code tlsv1.3}, {@code all}, {@code secure}, {@code default}, {@code legacy},
     * {@code !x} or {@code -x} to take one out), as JDK protocol names; empty means {@code secure}.
     *
     * @throws IllegalArgumentException for an unknown word or a list that leaves nothing
     */
    static List<String> protocols(String value) {
        String v = value == null ? "" : value.trim();
        if (v.isEmpty()) {
            return List.of(TLS_1_2, TLS_1_3);
        }
        Set<String> out = new LinkedHashSet<>();
        for (String word : v.toLowerCase(Locale.ROOT).split("[,:]")) {
            String w = word.trim();
            boolean negate = w.startsWith("!") || w.startsWith("-");
            if (negate) {
                w = w.substring(1);
            }
            List<String> which = switch (w) {
                case "all", "legacy" -> List.of(TLS_1_0, TLS_1_1, TLS_1_2, TLS_1_3);
                case "secure", "default" -> List.of(TLS_1_2, TLS_1_3);
                case "tlsv1" -> List.of(TLS_1_0, TLS_1_1, TLS_1_2, TLS_1_3);
                case "tlsv1.0" -> List.of(TLS_1_0);
                case "tlsv1.1" -> List.of(TLS_1_1);
                case "tlsv1.2" -> List.of(TLS_1_2);
                case "tlsv1.3" -> List.of(TLS_1_3);
                default -> throw new IllegalArgumentException(value);
            };
            if (negate) {
                out.removeAll(which);
            } else {
                out.addAll(which);
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(value);
        }
        // Oldest first, as the JDK lists them.
        List<String> ordered = new ArrayList<>();
        for (String p : List.of(TLS_1_0, TLS_1_1, TLS_1_2, TLS_1_3)) {
            if (out.contains(p)) {
                ordered.add(p);
            }
        }
        return ordered;
    }

    /** Whether a cipher setting means "the library's defaults". */
    static boolean isDefault(String value) {
        if (value == null || value.isBlank()) {
            return true;
        }
        String v = value.trim().toLowerCase(Locale.ROOT);
        return v.equals("default") || v.equals("secure") || v.equals("fast") || v.equals("normal")
                || v.equals("all");
    }

    /**
     * The suites an OpenSSL cipher string names, as JDK (IANA) names, in order; words that cannot be mapped go to
     * {@code warnings}. An empty result means "JDK defaults".
     */
    static List<String> ciphers(String setting, String value, Set<String> supported, List<String> warnings) {
        List<String> out = new ArrayList<>();
        if (isDefault(value)) {
            return out;
        }
        for (String word : value.trim().split("[:,\\s]+")) {
            if (word.isEmpty()) {
                continue;
            }
            String iana = word.startsWith("TLS_") || word.startsWith("SSL_") ? word : OPENSSL_TO_IANA.get(word);
            if (iana != null && supported.contains(iana)) {
                if (!out.contains(iana)) {
                    out.add(iana);
                }
            } else if (iana != null || word.indexOf('-') > 0) {
                warnings.add(setting + ": cipher " + word + " is not available in the JDK; left out");
            } else {
                warnings.add(setting + ": OpenSSL cipher keyword " + word
                        + " cannot be evaluated by the JDK; ignored (name suites explicitly)");
            }
        }
        return out;
    }

    /** A TLS 1.3 suite (no key exchange in the name), as opposed to TLS 1.2 and older ones. */
    static boolean isTls13Suite(String iana) {
        return iana.startsWith("TLS_") && !iana.contains("_WITH_") && !iana.endsWith("_SCSV");
    }

    /** OpenSSL's name for a suite the JDK reports, as PgBouncer's SHOW CLIENTS and logs print it. */
    static String openSslName(String iana) {
        String name = IANA_TO_OPENSSL.get(iana);
        return name != null ? name : iana;
    }
}
