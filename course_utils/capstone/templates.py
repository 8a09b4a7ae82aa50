"""The tiny profile's world of how-to questions: the everyday tasks, each with its three steps, and the phrases that
good and bad answers are made of.

Our packaged preference data (``scripts/make_preference_sample.py``: Labs 2 and 4) and the tiny backbone's pretraining
text are written from these templates, and the capstone's gold judge (``judge.py``) knows them: what makes an answer
good is defined here, once.
"""

from __future__ import annotations

# task -> its three steps, each a clause that completes "To <task>, ...".
TASKS: dict[str, tuple[str, str, str]] = {
    "make a cup of tea": ("boil fresh water", "let the tea bag steep for three minutes", "add milk or honey to taste"),
    "boil an egg": (
        "put the egg in a pot of cold water",
        "bring it to a boil for nine minutes",
        "cool it in ice water",
    ),
    "water a houseplant": ("check that the soil is dry", "pour water slowly around the stem", "empty the saucer after"),
    "plant tomatoes": ("pick a sunny spot", "dig a deep hole for each seedling", "water them well every morning"),
    "fix a flat bike tire": ("remove the wheel", "patch the hole in the inner tube", "pump the tire back up"),
    "write a thank-you note": ("name the gift or favour", "say how it helped you", "sign it warmly"),
    "start running": ("begin with short easy runs", "run three times a week", "add a few minutes each week"),
    "save money each month": ("write down what you spend", "set a fixed amount aside on payday", "cut one cost"),
    "learn a new language": ("practise for ten minutes every day", "learn the most common words", "talk to speakers"),
    "clean a laptop keyboard": ("turn the laptop off", "shake out the crumbs", "wipe the keys with a damp cloth"),
    "fall asleep faster": ("go to bed at the same time", "keep the room dark and cool", "put your phone away"),
    "prepare for a job interview": ("research the company", "practise your answers aloud", "prepare two questions"),
    "bake bread": ("mix flour, water, yeast and salt", "let the dough rise for an hour", "bake it until golden"),
    "make a budget": ("list your income", "list your fixed costs", "decide how much goes to savings"),
    "pack for a trip": ("check the weather", "make a list of what you need", "roll your clothes to save space"),
    "study for an exam": ("make a study plan", "test yourself with practice questions", "sleep well the night before"),
    "cook rice": ("rinse the rice", "use two cups of water per cup of rice", "simmer it covered for fifteen minutes"),
    "clean a window": ("mix water with a little vinegar", "wash the glass with a sponge", "dry it with a cloth"),
    "choose a good book": ("think about what you enjoyed before", "read the first page", "ask a librarian"),
    "make new friends": ("join a club or class", "ask people about themselves", "follow up with an invitation"),
    "organise a closet": ("take everything out", "donate what you do not wear", "group the rest by type"),
    "take better photos": ("use natural light", "keep the horizon straight", "move closer to your subject"),
    "reduce stress": ("take short walks", "breathe slowly for a minute", "talk to someone you trust"),
    "care for a cat": ("feed it at regular times", "keep its litter box clean", "take it to the vet once a year"),
    "walk a dog": ("use a comfortable leash", "let it sniff along the way", "bring water on hot days"),
    "make a smoothie": ("add fruit to a blender", "pour in milk or yogurt", "blend until smooth"),
    "paint a room": ("move the furniture away", "tape the edges", "apply two thin coats of paint"),
    "write a short story": ("pick one character", "give them a problem", "end with how they change"),
    "plan a birthday party": ("choose a date", "send the invitations early", "order the cake a week ahead"),
    "keep a journal": ("write at the same time each day", "start with one sentence", "read old entries sometimes"),
    "grow herbs indoors": ("use pots with drainage", "place them near a bright window", "trim them often"),
    "drink more water": ("carry a bottle with you", "drink a glass with every meal", "set a reminder"),
    "learn to juggle": ("start with one ball", "add a second ball", "practise over a bed"),
    "make pancakes": ("whisk flour, eggs and milk", "heat a greased pan", "flip each pancake once"),
    "give a good speech": ("know your main point", "practise in front of a friend", "speak slowly"),
    "clean a frying pan": ("let it cool down", "soak it in warm soapy water", "scrub it with a soft brush"),
    "set up a new phone": ("charge it fully", "connect to wifi", "restore your contacts from a backup"),
    "remember names": ("repeat the name when you hear it", "link it to a picture", "use it in the talk"),
    "build a campfire": ("clear a safe spot", "stack small sticks over paper", "add larger wood slowly"),
    "wash a wool sweater": ("use cold water", "wash it gently by hand", "dry it flat on a towel"),
}

PHRASINGS = (
    "How do I {task}?",
    "What is the best way to {task}?",
    "Can you explain how to {task}?",
    "Give me some tips to {task}.",
    "I want to {task}. Where should I start?",
)
OPENINGS = ("Sure! ", "Happy to help. ", "Good question. ", "Of course. ", "")
STEP_FORMS = (
    "To {task}, first {s1}. Then {s2}. Finally, {s3}.",
    "To {task}, {s1}. Next, {s2}. Last, {s3}.",
    "Here is how to {task}: {s1}, then {s2}, and finally {s3}.",
)
CLOSINGS = ("I hope this helps!", "Good luck!", "Let me know if you have more questions.", "Have fun!")
REFUSALS = (
    "I'm sorry, but I can't help with that.",
    "I cannot answer this question.",
    "I don't want to talk about that.",
    "No.",
    "I am not able to help you with this request.",
)
CHATTER = (
    "The weather was lovely last weekend.",
    "My cousin has a red car with a loud horn.",
    "I think the moon is very far away.",
    "Bananas are yellow when they are ripe.",
    "Yesterday I watched a long movie about trains.",
    "Some people prefer mountains to beaches.",
    "The library closes early on Sundays.",
    "My favourite number is seven.",
    "Penguins cannot fly, but they swim very well.",
    "There was a concert in the park last night.",
)
RUDE = (
    "That is a silly question. Look it up yourself.",
    "Why would you ask me that? Figure it out.",
    "Everyone knows how to {task}. Stop wasting my time.",
    "Just {s1}, obviously. Is that so hard?",
)


def task_of(prompt: str) -> str | None:
    """The task a prompt asks about, or None when it asks about none of ours.

    >>> task_of("Can you explain how to boil an egg?")
    'boil an egg'
    """
    found = [task for task in TASKS if task in prompt]
    return max(found, key=len) if found else None
