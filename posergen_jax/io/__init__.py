"""Files: released weights, torch files read without torch, images, fonts, atomic writes."""
