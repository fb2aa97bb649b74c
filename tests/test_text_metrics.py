from asr.metrics import ErrorCounter, cer, edit_distance, wer
from asr.text import Vocabulary, normalize_transcript, number_to_words


def test_normalisation_maps_free_text_onto_the_vocabulary():
    assert normalize_transcript("  Hello, WORLD!  It's  café-time.") == "hello world it's cafe time"
    assert normalize_transcript("'Quoted' words") == "quoted words"
    assert normalize_transcript("Room 101 at 7") == "room one hundred one at seven"
    assert number_to_words(2024) == "two thousand twenty four"


def test_vocabulary_round_trip_and_blank():
    vocab = Vocabulary()
    assert vocab.blank == 0 and vocab.size == 29
    ids = vocab.encode("Don't stop")
    assert 0 not in ids
    assert vocab.decode(ids) == "don't stop"
    assert Vocabulary.from_dict(vocab.to_dict()).symbols == vocab.symbols


def test_error_rates_on_known_examples():
    assert edit_distance("kitten", "sitting") == 3
    assert wer("a b c d", "a x c") == 0.5  # one substitution, one deletion
    assert cer("abcd", "abcd") == 0.0
    c = ErrorCounter()
    c.add("the cat sat", "the cat sat")
    c.add("on the mat", "on mat")
    assert c.utterances == 2 and c.wer == 1 / 6
