using System.Text;
using MailScanner.Actors.Queue;
using Xunit;

namespace MailScanner.Actors.Tests.Queue;

/// <summary>The envelope <c>enqueue</c> gives a message: the options, or else its headers as <c>sendmail -t</c> reads them.</summary>
public sealed class EnqueueEnvelopeSpecs
{
    private static byte[] Message(string headers) => Encoding.UTF8.GetBytes(headers.ReplaceLineEndings("\r\n") + "\r\n\r\nbody\r\n");

    [Fact]
    public void Should_take_the_first_from_address_and_every_to_cc_and_bcc_address_once_with_groups_opened()
    {
        var envelope = EnqueueEnvelope.For(Message("""
            From: "Alice A." <alice@example.org>, second@example.org
            To: team: bob@example.net, Carol <carol@example.com>;
            Cc: =?utf-8?q?D=C3=A4ve?= <dave@example.com>, BOB@example.NET
            Bcc: eve@example.com
            """), from: null, to: []);

        Assert.Equal("alice@example.org", envelope.Sender);
        Assert.Equal(["bob@example.net", "carol@example.com", "dave@example.com", "eve@example.com"], envelope.Recipients);
    }

    [Fact]
    public void Should_prefer_the_options_to_the_headers_and_allow_the_null_sender()
    {
        var envelope = EnqueueEnvelope.For(Message("From: alice@example.org\nTo: bob@example.net"), from: "", to: ["postmaster@example.org"]);

        Assert.Equal("", envelope.Sender);
        Assert.Equal(["postmaster@example.org"], envelope.Recipients);
    }

    [Theory]
    [InlineData("To: bob@example.net", null, "no sender")]
    [InlineData("From: alice@example.org\nSubject: to nobody", null, "no recipients")]
    [InlineData("From: alice@example.org\nTo: bob@example.net", "<alice@example.org>", "is not a bare address")]
    [InlineData("From: alice@example.org\nTo: bob@example.net", "alice @example.org", "is not a bare address")]
    public void Should_refuse_an_envelope_it_cannot_make_saying_why(string headers, string? from, string why)
    {
        var error = Assert.Throws<FormatException>(() => EnqueueEnvelope.For(Message(headers), from, []));

        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }
}
