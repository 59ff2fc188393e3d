package pgsvc.pooler.tls;

import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;

import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

import io.netty.channel.Channel;
import io.netty.handler.ssl.SslHandler;

/** What a connection's TLS session is, as PgBouncer reports it, and who the peer's certificate names. */
public final class TlsInfo {
    private TlsInfo() {
    }

    /** The channel's TLS handler once its handshake succeeded, else null (plaintext, or still handshaking). */
    public static SslHandler handler(Channel channel) {
        SslHandler h = channel == null ? null : channel.pipeline().get(SslHandler.class);
        return h != null && h.handshakeFuture().isSuccess() ? h : null;
    }

    /** Whether the channel carries TLS (a handler is in place, whether or not its handshake is done). */
    public static boolean encrypted(Channel channel) {
        return channel != null && channel.pipeline().get(SslHandler.class) != null;
    }

    /**
     * PgBouncer's {@code tls_get_connection_info} text, {@code TLSv1.3/TLS_AES_256_GCM_SHA384} (TLS 1.2 suites by
     * their OpenSSL names); empty for plaintext. PgBouncer adds {@code /ECDH=<curve>} for TLS 1.2 ECDHE suites, which
     * the JDK does not tell; it is left out.
     */
    public static String describe(Channel channel) {
        SslHandler h = handler(channel);
        if (h == null) {
            return "";
        }
        SSLSession s = h.engine().getSession();
        return s.getProtocol() + "/" + TlsNames.openSslName(s.getCipherSuite());
    }

    /** The peer's end-entity certificate, or null when it sent none (or the channel is plaintext). */
    public static X509Certificate peerCertificate(Channel channel) {
        SslHandler h = handler(channel);
        if (h == null) {
            return null;
        }
        try {
            var chain = h.engine().getSession().getPeerCertificates();
            return chain.length > 0 && chain[0] instanceof X509Certificate x ? x : null;
        } catch (SSLPeerUnverifiedException e) {
            return null;
        }
    }

    /**
     * The names a certificate is for, as PgBouncer's cert login matches them (libtls's {@code tls_check_name}): its
     * DNS subject alternative names when it has any, else its subject's common name(s).
     */
    public static List<String> names(X509Certificate cert) {
        List<String> out = new ArrayList<>();
        try {
            if (cert.getSubjectAlternativeNames() != null) {
                for (List<?> san : cert.getSubjectAlternativeNames()) {
                    if (san.size() >= 2 && Integer.valueOf(2).equals(san.get(0))) {
                        out.add(String.valueOf(san.get(1)));
                    }
                }
            }
        } catch (CertificateParsingException e) {
            return List.of();
        }
        if (!out.isEmpty()) {
            return out;
        }
        try {
            for (Rdn rdn : new LdapName(cert.getSubjectX500Principal().getName()).getRdns()) {
                if (rdn.getType().equalsIgnoreCase("CN")) {
                    out.add(String.valueOf(rdn.getValue()));
                }
            }
        } catch (InvalidNameException e) {
            return List.of();
        }
        return out;
    }
}
