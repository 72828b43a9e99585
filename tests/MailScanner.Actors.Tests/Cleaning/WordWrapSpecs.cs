using MailScanner.Actors.Cleaning;
using Xunit;

namespace MailScanner.Actors.Tests.Cleaning;

public sealed class WordWrapSpecs
{
    [Fact]
    public void Should_break_before_the_word_that_would_pass_the_width()
    {
        Assert.Equal("aaa bbb\nccc", WordWrap.AtSpaces("aaa bbb ccc", width: 8, firstColumn: 0, lineBreak: "\n"));
        Assert.Equal("aaa bbb ccc", WordWrap.AtSpaces("aaa bbb ccc", width: 11, firstColumn: 0, lineBreak: "\n"));
    }

    [Fact]
    public void Should_fold_a_header_counting_its_name_and_the_tab_that_starts_each_continuation()
    {
        // "X: " takes 3 columns; each continuation line starts with a tab (1 column).
        Assert.Equal("R1,\r\n\tR2, R3,\r\n\tR4", WordWrap.AtSpaces("R1, R2, R3, R4", width: 8, firstColumn: 3, lineBreak: "\r\n\t"));
    }

    [Fact]
    public void Should_keep_a_word_longer_than_the_width_whole_on_its_own_line()
    {
        Assert.Equal("a\nlongerthanwidth\nb", WordWrap.AtSpaces("a longerthanwidth b", width: 5, firstColumn: 0, lineBreak: "\n"));
    }
}
