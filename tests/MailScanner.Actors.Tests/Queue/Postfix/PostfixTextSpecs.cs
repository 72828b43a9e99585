using System.Text;
using CsCheck;
using MailScanner.Actors.Queue.Postfix;
using Xunit;

namespace MailScanner.Actors.Tests.Queue.Postfix;

public sealed class PostfixTextSpecs
{
    [Fact]
    public void Should_give_back_the_exact_bytes_of_any_envelope_text()
    {
        Gen.Byte.Array[0, 64].Sample(bytes => Assert.Equal(bytes, PostfixText.Encode(PostfixText.Decode(bytes))));
    }

    [Fact]
    public void Should_give_back_the_exact_bytes_of_utf8_text_mixed_with_bytes_that_are_not_utf8()
    {
        // U+1F0A0 is a surrogate pair whose low half (U+DCA0) lies in the escape range: it must stay one character.
        var bytes = Encoding.UTF8.GetBytes("a\U0001F0A0\u00e9").Concat(new byte[] { 0xE9, 0xC3, 0x80, 0xFF, 0xF0, 0x9F }).ToArray();

        var text = PostfixText.Decode(bytes);

        Assert.Equal(bytes, PostfixText.Encode(text));
        // Display as .NET decodes UTF-8: one U+FFFD per invalid byte or truncated sequence (F0 9F).
        Assert.Equal("a\U0001F0A0\u00e9\ufffd\u00c0\ufffd\ufffd", PostfixText.Display(text));
    }

    [Fact]
    public void Should_read_valid_utf8_as_plain_text_and_display_it_unchanged()
    {
        var text = PostfixText.Decode("j\u00f6rg@b\u00fccher.example \U0001F0A0"u8);

        Assert.Equal("j\u00f6rg@b\u00fccher.example \U0001F0A0", text);
        Assert.Same(text, PostfixText.Display(text));
        Assert.Equal("j\u00f6rg@b\u00fccher.example \U0001F0A0"u8.ToArray(), PostfixText.Encode(text));
    }
}
